"""What the public pages may say about the road-network folder."""
from __future__ import annotations

from geo import settings


def network_dir_hint() -> str:
    """The road-network folder as the public pages' admin hint names it, without its path.

    ``network/`` for the default folder, else ``$GEO_NETWORK_DIR``: where
    the server keeps its files is not for the public.
    """
    return "network/" if settings.network_dir() == settings.ROOT / "network" else "$GEO_NETWORK_DIR"
