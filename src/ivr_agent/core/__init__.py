"""Pure call-tracking core: no I/O, no asyncio, no wall clock; time comes from the events."""
