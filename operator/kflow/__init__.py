"""kflow: Kestra flows, run locally or as Kubernetes resources."""

__version__ = "0.1.0"
