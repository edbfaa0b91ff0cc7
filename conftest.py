# The repository root is a pytest rootdir conftest so `runtime`, `export`, ... import from the checkout.
