"""aitbc-infra: the declarative deployer for the AITBC stack."""

from pathlib import Path

# The project is installed editable: data, templates and deploys live beside the package.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
