"""Remote images of chat requests: strict URL parsing, the address guard, bounded fetching."""

from ag2api.media.fetcher import ImageFetcher, ImageFetchError

__all__ = ["ImageFetchError", "ImageFetcher"]
