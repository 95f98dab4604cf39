"""One writer per real dataset format. Each has `render(world, index) -> record` (runs in worker
processes, writes that sample's files) and `finish(world, records)` (writes the index files)."""
