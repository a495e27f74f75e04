# Quickstart targets: each creates the environment if it is missing.
.PHONY: run test env lint docs

env:
	@scripts/env.sh

run: env
	.venv/bin/lidep run configs/default.yaml --overwrite

test: env
	scripts/test.sh

lint: env
	.venv/bin/ruff check solver tests benchmarks demos

docs: env
	.venv/bin/lidep schema --markdown > docs/config.md
	.venv/bin/lidep materials --markdown > docs/materials.md
