"""Forms (表单): field definitions for booking questions and customer profile fields, versioned, and the
validation of answers against them."""
