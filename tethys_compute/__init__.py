"""tethys-compute: HTCondor and Dask schedulers for science portals, as a Django app."""

__version__ = "0.1.0"
