"""The dashboard's entry point and router: `streamlit run dashboard/app.py` from the project root."""

import sys
from pathlib import Path

# Streamlit puts this script's folder on sys.path, not the project root that holds `digits`.
PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
if PROJECT_ROOT not in sys.path:
    sys.path.insert(0, PROJECT_ROOT)

import streamlit as st  # noqa: E402

# The pages live in `app_pages/`, not `pages/`: beside the entry script a `pages/` folder switches
# Streamlit to its legacy multipage mode until the first st.navigation call, so the first visitor
# following a deep link (say /train) after a restart would get that page without this router.
st.set_page_config(page_title="Digits lab", page_icon=":material/draw:", layout="wide")

pages = [
    st.Page("app_pages/predict.py", title="Predict", icon=":material/draw:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("app_pages/models.py", title="Models", icon=":material/inventory_2:"),
    st.Page("app_pages/samples.py", title="Samples", icon=":material/ink_pen:"),
]
st.navigation(pages).run()
