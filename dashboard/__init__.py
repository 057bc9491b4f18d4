"""Streamlit dashboard over the store: issue 6."""
