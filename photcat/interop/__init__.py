"""photcat in other tools' terms: qp PDF ensembles (:mod:`.qp_ensembles`) and LSST DESC RAIL
stages (:mod:`.rail_stages`). Both need the optional extra ``pip install 'photcat[rail]'``."""
