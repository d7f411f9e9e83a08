"""``parkmatch bench``: every benchmark and its naive peer.  No product package imports this one."""
