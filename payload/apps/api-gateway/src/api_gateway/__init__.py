"""Demo API gateway of the monorepo layout."""
