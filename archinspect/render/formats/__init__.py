"""Generic writers: lay out a report's declared view (render/view.py) in one format each."""
