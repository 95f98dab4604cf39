"""The synthetic world: toy body model, its charts and files, rendering."""
