"""Speed figures against the fake model server: bench.py, and LangChain's recipes beside ours."""
