"""ThreadX DearPyGui desktop client (thin client over the Ray actors)."""
