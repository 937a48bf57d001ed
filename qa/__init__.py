"""qa: question answering over your articles, answered with cited passages."""
from qa.documents import Document
from qa.readers import read_document, read_paths
from qa.chunking import Passage, split_passages
from qa.errors import QAError

__all__ = ["Document", "read_document", "read_paths", "Passage", "split_passages", "QAError"]
