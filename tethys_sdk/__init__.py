"""The app developer's SDK of tethys-compute (``tethys_sdk.compute``, ``tethys_sdk.jobs``)."""
