"""Our widgets write exactly the HTML that WTForms' own would, only faster."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup
from wtforms import widgets as wtforms_widgets

from flask_passwordless import forms, widgets

names = st.one_of(
    st.sampled_from(
        ["id", "name", "type", "value", "class_", "for_", "data_length", "aria_describedby",
         "autocomplete", "required", "autofocus", "pattern", "maxlength"]
    ),
    st.text(min_size=1),  # names that need escaping too
)  # fmt: skip
values = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(),
    st.floats(),
    st.text(),
    st.text().map(Markup),  # already-safe text, which may hold quotes
)
FORMS = [
    value
    for value in vars(forms).values()
    if isinstance(value, type) and issubclass(value, forms.Form) and value is not forms.Form
]


@given(st.dictionaries(names, values, max_size=8))
def test_attribute_text_is_the_same_as_wtforms(attributes):
    assert widgets.html_params(**attributes) == wtforms_widgets.html_params(**attributes)


def test_attribute_quotes_cannot_end_the_attribute():
    text = widgets.html_params(value=Markup('x" onfocus="alert(1)'), title='"<b>')
    assert text == 'title="&#34;&lt;b&gt;" value="x&quot; onfocus=&quot;alert(1)"'


def test_every_field_renders_as_with_wtforms_widgets(app):
    assert len(FORMS) >= 10
    with app.test_request_context("/auth/login"):
        for form_class in FORMS:
            form = form_class()
            form.validate()  # with errors, so the error attributes are drawn too
            for field in form:
                ours = field.widget
                assert isinstance(ours, widgets._DirectAttributes), field.name
                stock = type(ours).__bases__[1](**_made_with(ours))  # the WTForms widget
                drawn = dict(field.render_kw or {}, aria_invalid="true")
                assert field(aria_invalid="true") == stock(field, **drawn)


def _made_with(widget):
    """The constructor arguments a widget was made with (PasswordInput's hide_value)."""
    return {"hide_value": widget.hide_value} if hasattr(widget, "hide_value") else {}
