"""The DatasetNeRF semantic branch on a frozen tri-plane generator (DESIGN sec. 5)."""
