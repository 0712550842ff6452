"""Privacy keeps no models of its own: preferences live with the advocate."""
