"""A trader's own model, as a plug-in: features the runner has never heard of and a
scikit-learn pipeline. Nothing here imports the runner except its `Tick` type."""
