"""Test helpers shipped in the package (``--demo`` serves from the fake upstream): an in-process
fake of the Antigravity backend and Google's token endpoint (``fake_upstream``), serving a
backend's state and behaviour (``fake_state``) through endpoints built on shared pieces
(``fake_base``): generation, the model list, the quota summary and countTokens
(``fake_generate``), Google's OAuth side (``fake_google``). What its model answers and the checks
the real backend makes (``fake_model``), Claude's thinking rules (``fake_claude_rules``), the
content filter (``fake_filter``), what makes one account differ from another (``fake_pool``),
the upstream's literal error bodies and default answers (``fake_bodies``), the benchmark mode
(``fake_bench``), and running the fake on its own (``run_fake``)."""
