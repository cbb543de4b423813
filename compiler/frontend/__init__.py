"""Front end: the AST (`syntax`), the parser (grammar → AST, E1xx diagnostics) and the
formatter. Imports only `core`.
"""
