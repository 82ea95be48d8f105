"""HealthAnalytics: Medicare Part D prescriber analytics for drug launches."""

__version__ = "0.1.0"
