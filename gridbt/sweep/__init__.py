"""Parameter sweeps on Ray: sweep files, grid expansion, actors, driver and the result store."""
