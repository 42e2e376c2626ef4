"""Evaluation metrics used by the experiments (BLEU and friends)."""
