"""The handwritten-digit lab's core: data, models, training, preprocessing, evaluation, store.

Never imports streamlit: the dashboard (`dashboard/`) and the command line both build on it.
"""
