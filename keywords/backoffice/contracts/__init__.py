"""Contracts: generated offers and contracts, and the verdict on the signed copy that comes back."""
