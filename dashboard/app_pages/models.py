"""Models: every version in the store with its metrics and settings; activate, download, delete."""

import streamlit as st

from dashboard import charts
from dashboard.common import model_store, notify_after_rerun, show_notice
from dashboard.runs_view import format_duration, settings_summary
from digits.store import SHIPPED, StoreError, VersionInfo


def version_row(info: VersionInfo) -> dict:
    meta = info.meta or {}
    four_nine = (meta.get("test") or {}).get("confusion_4_9") or {}
    return {
        "version": info.id,
        "task": info.task,
        "active": info.active,
        "status": f"broken: {info.error}" if info.broken else "ok",
        "test accuracy": info.test_accuracy,
        "4→9": four_nine.get("4->9"),
        "9→4": four_nine.get("9->4"),
        **settings_summary(meta.get("config") or {}),
        "parameters": (meta.get("architecture") or {}).get("parameters"),
        "created": meta.get("created", ""),
        "training time": format_duration(meta["train_seconds"]) if "train_seconds" in meta else "",
    }


def delete_version(version: str) -> None:
    try:
        store.delete(version)
    except StoreError as err:
        st.error(str(err))
        return
    notify_after_rerun(f"Deleted `{version}`.")
    st.rerun()


def version_actions(info: VersionInfo) -> None:
    buttons = st.container(horizontal=True)
    if buttons.button("Make active", icon=":material/check_circle:", disabled=info.active or info.broken,
                      help="already active" if info.active else None):
        try:
            store.activate(info.id)
        except StoreError as err:
            st.error(str(err))
        else:
            notify_after_rerun(f"`{info.id}` is now the active model.")
            st.rerun()
    model_file = info.path / "model.keras"
    buttons.download_button(
        "Download .keras", data=model_file.read_bytes, file_name=f"digits-{info.id}.keras",
        mime="application/octet-stream", icon=":material/download:", disabled=not model_file.is_file(),
        on_click="ignore")
    is_default = info.id in SHIPPED
    with buttons.popover("Delete…", icon=":material/delete:", disabled=is_default,
                         help="the shipped default cannot be deleted" if is_default else None):
        st.write(f"Delete **{info.id}** for good? Its model file and metrics are removed; this cannot be undone.")
        if st.button("Delete for good", type="primary", icon=":material/delete:", key="confirm_delete"):
            delete_version(info.id)


st.title("Models")
store = model_store()
show_notice()
versions = store.list()
if not versions:
    st.warning("The store holds no version, and the shipped default `model_store/default` is missing.")
    st.stop()
st.dataframe([version_row(info) for info in versions], hide_index=True, column_config={
    "version": st.column_config.TextColumn(width="medium", pinned=True),
    "test accuracy": st.column_config.NumberColumn(format="percent"),
    "learning rate": st.column_config.NumberColumn(format="%.4g"),
})
for info in versions:
    if info.broken:
        st.warning(f"`{info.id}` is broken ({info.error}): it cannot be loaded or made active, only deleted.")

by_id = {info.id: info for info in versions}
chosen = st.selectbox("Version", list(by_id), index=list(by_id).index(store.active()) if store.active() in by_id
                      else 0, format_func=lambda version: version + (" (active)" if by_id[version].active else ""))
version_actions(by_id[chosen])
meta = by_id[chosen].meta or {}
if meta.get("history"):
    st.plotly_chart(charts.training_curves(meta["history"]), key="version_curves")
if meta:
    with st.expander("Everything recorded about this version (meta.json)"):
        st.json({key: value for key, value in meta.items() if key != "test"} |
                {"test": {key: value for key, value in (meta.get("test") or {}).items() if key != "misclassified"}},
                expanded=1)
