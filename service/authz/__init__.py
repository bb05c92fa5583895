"""Authorization: the resource table, the scope catalog and (later) the role policy."""
