"""Personalized products: embeddings, FAISS retrieval, candidate sources, LambdaRank, rules."""

from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import Encoder, SentenceTransformerEncoder, default_model_path, item_text
from recsvc.recs.index import ItemIndex
from recsvc.recs.serving import Candidate, RecRequest, RecsModel
from recsvc.recs.training import train_recs

__all__ = [
    "Candidate",
    "Encoder",
    "ItemIndex",
    "RecRequest",
    "RecsConfig",
    "RecsModel",
    "SentenceTransformerEncoder",
    "default_model_path",
    "item_text",
    "train_recs",
]
