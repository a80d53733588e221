"""Importers: turn other people's market-data files into tick files."""
