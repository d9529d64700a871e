"""dau's live dashboard: follows run directories, never imports torch."""
