"""Built-in behaviour, registered like any other plugin and marked ``trylast`` so installed plugins win."""
