"""ThreadX Ray layer: one actor per module, thin shells over the ``threadx`` library."""

from threadx.cluster import use_token_if_present

use_token_if_present()  # before Ray reads its auth settings: clusters from `cluster up` need it
