"""podmem: the truth about Kubernetes container memory — working set, not usage."""

__version__ = "0.1.0"
