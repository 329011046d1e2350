"""ThreadX Ray layer: one actor per module, thin shells over the ``threadx`` library."""
