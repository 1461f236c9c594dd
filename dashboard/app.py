"""The dashboard's entry point and router: `streamlit run dashboard/app.py` from the project root."""

import sys
from pathlib import Path

# Streamlit puts this script's folder on sys.path, not the project root that holds `digits`.
PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
if PROJECT_ROOT not in sys.path:
    sys.path.insert(0, PROJECT_ROOT)

import streamlit as st  # noqa: E402

st.set_page_config(page_title="Digits lab", page_icon=":material/draw:", layout="wide")

pages = [
    st.Page("pages/predict.py", title="Predict", icon=":material/draw:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("pages/models.py", title="Models", icon=":material/inventory_2:"),
]
st.navigation(pages).run()
