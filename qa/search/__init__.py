"""Question -> ranked, cited hits: the one place retrieval logic lives (qa/search/pipeline.py reads
top to bottom). Re-exports only."""
from qa.search.assess import Confidence
from qa.search.cite import Citation, Hit, Span
from qa.search.pipeline import RETRIEVERS, VARIANTS, Answer, Searcher, clean_question
from qa.search.query import Query
from qa.search.retrieve import Candidate

__all__ = ["Answer", "Candidate", "Citation", "Confidence", "Hit", "Query", "RETRIEVERS", "Searcher", "Span",
           "VARIANTS", "clean_question"]
