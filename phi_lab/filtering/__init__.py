"""Educational-value filtering of code (paper §2.1): annotate a sample, train a classifier on
embeddings, and keep the corpus files it scores as instructive for a student learning to code."""

from phi_lab.filtering.classifier import ClassifierConfig, EduClassifier, evaluate, fit_classifier
from phi_lab.filtering.corpus_filter import FilterConfig
from phi_lab.filtering.heuristic import HeuristicAnnotator
from phi_lab.filtering.labels import Annotator, Label, read_labels, write_labels
from phi_lab.filtering.llm_annotator import OpenAIAnnotator

__all__ = [
    "Annotator",
    "ClassifierConfig",
    "EduClassifier",
    "FilterConfig",
    "HeuristicAnnotator",
    "Label",
    "OpenAIAnnotator",
    "evaluate",
    "fit_classifier",
    "read_labels",
    "write_labels",
]
