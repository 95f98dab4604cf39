"""One converter per dataset, each on `tfhybrid.data.converter.Converter`."""
