"""photcat: photometric redshifts and P(quiescent) for galaxy catalogues."""

__version__ = "0.1.0"
