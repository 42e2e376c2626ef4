"""Evaluation metrics used by the experiments."""

from attnlab.metrics.bleu import BleuScore, corpus_bleu, sentence_bleu

__all__ = ["BleuScore", "corpus_bleu", "sentence_bleu"]
