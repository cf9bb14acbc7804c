"""Remote images of chat requests: strict URL parsing (``urls``), the address guard
(``addresses``), bounded fetching (``fetcher``), one GET within the byte caps (``transfer``)."""

from ag2api.media.fetcher import ImageFetcher, ImageFetchError

__all__ = ["ImageFetchError", "ImageFetcher"]
