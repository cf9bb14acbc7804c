"""The pool's live state: the contract (``base``), the one-process backend (``memory``), the
Redis backend for replicas (``redis/``), the choice between them (``backends``), which account
served each conversation's last turn in this process (``affinity``), and the records kept beside
them — stored Responses answers and shared thinking blocks (``records``)."""
