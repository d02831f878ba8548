"""The test and build harness: what only tests and development use, apart from the product in werkraum/."""
