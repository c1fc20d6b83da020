"""bot: a retrieval QA bot for clinical evidence that answers only with verbatim, cited quotes."""

__version__ = "0.1.0"
